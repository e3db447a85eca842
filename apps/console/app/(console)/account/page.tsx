"use client";

import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiTokensPanel } from "~/components/api-tokens";
import { useUser } from "~/components/user-context";
import { errorMessage, useTRPC } from "~/trpc/react";

export default function AccountPage() {
  const trpc = useTRPC();
  const user = useUser();
  const [currentPassword, setCurrent] = useState("");
  const [newPassword, setNext] = useState("");
  const change = useMutation(trpc.auth.changePassword.mutationOptions({ onSuccess: () => { setCurrent(""); setNext(""); } }));
  function submit(e: FormEvent) {
    e.preventDefault();
    change.mutate({ currentPassword, newPassword });
  }
  return (
    <div>
      <h1>Account</h1>
      <p>{user.username} — {user.role}</p>
      <form className="panel" onSubmit={submit} style={{ maxWidth: 420 }}>
        <h2 style={{ marginTop: 0 }}>Change password</h2>
        <label><span>Current password</span><input type="password" autoComplete="current-password" value={currentPassword} onChange={(e) => setCurrent(e.target.value)} required style={{ width: "100%" }} /></label>
        <label><span>New password (12+ characters)</span><input type="password" autoComplete="new-password" value={newPassword} onChange={(e) => setNext(e.target.value)} required minLength={12} style={{ width: "100%" }} /></label>
        {change.error && <div className="error-box" role="alert">{errorMessage(change.error)}</div>}
        {change.isSuccess && <div className="ok-box">Password changed. Your other sessions were signed out.</div>}
        <button className="primary" type="submit" disabled={change.isPending}>Change password</button>
      </form>
      <ApiTokensPanel />
    </div>
  );
}
