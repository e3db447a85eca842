"use client";

import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { errorMessage, useTRPC } from "~/trpc/react";

export default function LoginPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const signIn = useMutation(
    trpc.auth.signIn.mutationOptions({
      onSuccess: () => {
        router.replace("/networks");
        router.refresh();
      },
    }),
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    signIn.mutate({ username, password });
  }
  return (
    <div className="login panel">
      <h1>Sign in to Switchyard</h1>
      <form onSubmit={submit}>
        <label>
          <span>Username</span>
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required style={{ width: "100%" }} />
        </label>
        <label>
          <span>Password</span>
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required style={{ width: "100%" }} />
        </label>
        {signIn.error && <div role="alert" className="error-box">{errorMessage(signIn.error)}</div>}
        <button className="primary" type="submit" disabled={signIn.isPending}>
          Sign in
        </button>
      </form>
      <p className="muted" style={{ fontSize: 12 }}>
        First start? The console printed a one-time bootstrap secret for the user <code>admin</code> in its log.
      </p>
    </div>
  );
}
