"use client";

import { Role } from "@switchyard/api/roles";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ConfirmDialog } from "~/components/confirm-dialog";
import { useCan, useRefreshSelf, useUser } from "~/components/user-context";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";


type User = RouterOutputs["users"]["list"][number];
/** A change waiting for its confirmation. */
type Pending = { kind: "role"; user: User; role: Role } | { kind: "disabled"; user: User; disabled: boolean };

const CAN_DO: Record<Role, string> = {
  viewer: "read everything, change nothing",
  operator: "edit networks and attach, check and detach containers",
  admin: "everything an operator does, and manage users and hosts",
};

function describe(p: Pending, isSelf: boolean): { title: string; body: string; confirm: string; danger: boolean } {
  const who = isSelf ? "you" : p.user.username;
  if (p.kind === "role") {
    const selfNote = isSelf && p.role !== "admin" ? " You lose admin rights at once: the Users page and admin controls go away." : "";
    return { title: `Make ${isSelf ? "yourself" : p.user.username} ${p.role === "admin" ? "an" : "a"} ${p.role}?`, body: `${who === "you" ? "You" : p.user.username} can then ${CAN_DO[p.role]} (now: ${p.user.role}).${selfNote}`, confirm: `Make ${p.role}`, danger: p.role !== "admin" && p.user.role === "admin" };
  }
  return p.disabled
    ? { title: `Disable ${isSelf ? "your own account" : p.user.username}?`, body: `${isSelf ? "You are" : `${p.user.username} is`} signed out everywhere at once and cannot sign in until enabled again.`, confirm: "Disable", danger: true }
    : { title: `Enable ${p.user.username}?`, body: `${p.user.username} can sign in again, as ${p.user.role}.`, confirm: "Enable", danger: false };
}

export default function UsersPage() {
  const trpc = useTRPC();
  const can = useCan();
  const me = useUser();
  const refreshSelf = useRefreshSelf();
  const queryClient = useQueryClient();
  const users = useQuery({ ...trpc.users.list.queryOptions(), enabled: can.manageUsers });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.users.pathKey() });
  const [pending, setPending] = useState<Pending | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const onSuccess = (text: string, selfAffected: boolean) => {
    setPending(null);
    setDone(text);
    void invalidate();
    // Server-side RBAC already rules; this makes the console show the signed-in user's new role at once.
    if (selfAffected) void refreshSelf();
  };
  const setRole = useMutation(trpc.users.setRole.mutationOptions({ onSuccess: (u) => onSuccess(`${u.username} is now ${u.role}.`, u.id === me.id) }));
  const setDisabled = useMutation(trpc.users.setDisabled.mutationOptions({ onSuccess: (u) => onSuccess(`${u.username} is ${u.disabled ? "disabled and signed out" : "enabled"}.`, u.id === me.id) }));
  if (!can.manageUsers) return <p>Only admins manage users.</p>;
  const error = setRole.error ?? setDisabled.error;
  const text = pending ? describe(pending, pending.user.id === me.id) : null;
  const ask = (p: Pending) => {
    setRole.reset();
    setDisabled.reset();
    setDone(null);
    setPending(p);
  };
  return (
    <div>
      <h1>Users</h1>
      <CreateUser onCreated={invalidate} />
      {done && <div className="ok-box" role="status">{done}</div>}
      <table aria-label="Users">
        <thead><tr><th>Username</th><th>Name</th><th>Role</th><th>State</th><th /></tr></thead>
        <tbody>
          {users.data?.map((u) => (
            <tr key={u.id}>
              <td>{u.username}{u.id === me.id && <span className="muted"> (you)</span>}</td>
              <td>{u.displayName}</td>
              <td>
                <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => ask({ kind: "role", user: u, role: Role.parse(e.target.value) })}>
                  {Role.options.map((r) => <option key={r}>{r}</option>)}
                </select>
              </td>
              <td>{u.disabled ? <span className="badge denied">disabled</span> : <span className="badge success">active</span>}</td>
              <td>
                <button onClick={() => ask({ kind: "disabled", user: u, disabled: !u.disabled })} aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.username}`}>
                  {u.disabled ? "Enable" : "Disable"}
                </button>
              </td>
            </tr>
          ))}
          {users.data?.length === 0 && <tr><td colSpan={5} className="muted">No users.</td></tr>}
        </tbody>
      </table>
      <ConfirmDialog
        open={pending !== null}
        title={text?.title ?? ""}
        description={<p>{text?.body}</p>}
        confirmLabel={text?.confirm ?? "Confirm"}
        danger={text?.danger}
        pending={setRole.isPending || setDisabled.isPending}
        error={error ? errorMessage(error) : null}
        onCancel={() => setPending(null)}
        onConfirm={() => {
          if (pending?.kind === "role") setRole.mutate({ id: pending.user.id, role: pending.role });
          if (pending?.kind === "disabled") setDisabled.mutate({ id: pending.user.id, disabled: pending.disabled });
        }}
      />
    </div>
  );
}

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const trpc = useTRPC();
  const [form, setForm] = useState({ username: "", displayName: "", password: "", role: "viewer" as Role });
  const create = useMutation(
    trpc.users.create.mutationOptions({ onSuccess: () => { setForm({ username: "", displayName: "", password: "", role: "viewer" }); onCreated(); } }),
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(form);
  }
  return (
    <form className="panel" onSubmit={submit} aria-label="Create user">
      <h2 style={{ marginTop: 0 }}>Create user</h2>
      <div className="row">
        <label><span>Username</span><input value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required /></label>
        <label><span>Display name</span><input value={form.displayName} onChange={(e) => setForm({ ...form, displayName: e.target.value })} /></label>
        <label><span>Initial password</span><input type="password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required minLength={12} /></label>
        <label>
          <span>Role</span>
          <select value={form.role} onChange={(e) => setForm({ ...form, role: Role.parse(e.target.value) })}>
            {Role.options.map((r) => <option key={r}>{r}</option>)}
          </select>
        </label>
        <button className="primary" type="submit" disabled={create.isPending}>Create user</button>
      </div>
      {create.error && <div className="error-box" role="alert">{errorMessage(create.error)}</div>}
      {create.isSuccess && <div className="ok-box">User created.</div>}
    </form>
  );
}
