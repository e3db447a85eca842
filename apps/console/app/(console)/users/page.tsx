"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useCan } from "~/components/user-context";
import { errorMessage, useTRPC } from "~/trpc/react";

type Role = "viewer" | "operator" | "admin";

export default function UsersPage() {
  const trpc = useTRPC();
  const can = useCan();
  const queryClient = useQueryClient();
  const users = useQuery({ ...trpc.users.list.queryOptions(), enabled: can.manageUsers });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.users.pathKey() });
  const setRole = useMutation(trpc.users.setRole.mutationOptions({ onSettled: invalidate }));
  const setDisabled = useMutation(trpc.users.setDisabled.mutationOptions({ onSettled: invalidate }));
  const error = setRole.error ?? setDisabled.error;
  if (!can.manageUsers) return <p>Only admins manage users.</p>;
  return (
    <div>
      <h1>Users</h1>
      <CreateUser onCreated={invalidate} />
      {error && <div className="error-box" role="alert">{errorMessage(error)}</div>}
      <table aria-label="Users">
        <thead><tr><th>Username</th><th>Name</th><th>Role</th><th>State</th><th /></tr></thead>
        <tbody>
          {users.data?.map((u) => (
            <tr key={u.id}>
              <td>{u.username}</td>
              <td>{u.displayName}</td>
              <td>
                <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => setRole.mutate({ id: u.id, role: e.target.value as Role })}>
                  <option>viewer</option><option>operator</option><option>admin</option>
                </select>
              </td>
              <td>{u.disabled ? <span className="badge denied">disabled</span> : <span className="badge success">active</span>}</td>
              <td>
                <button onClick={() => setDisabled.mutate({ id: u.id, disabled: !u.disabled })}>{u.disabled ? "Enable" : "Disable"}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
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
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            <option>viewer</option><option>operator</option><option>admin</option>
          </select>
        </label>
        <button className="primary" type="submit" disabled={create.isPending}>Create user</button>
      </div>
      {create.error && <div className="error-box" role="alert">{errorMessage(create.error)}</div>}
      {create.isSuccess && <div className="ok-box">User created.</div>}
    </form>
  );
}
