"use client";

import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { NetworkEditor } from "~/components/network-editor";
import { EMPTY_FORM } from "~/components/network-form-model";
import { useCan } from "~/components/user-context";
import { errorIssues, errorMessage, useTRPC } from "~/trpc/react";

export default function NewNetworkPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const can = useCan();
  const create = useMutation(trpc.networks.create.mutationOptions({ onSuccess: (n) => router.push(`/networks/${n.id}`) }));
  if (!can.editNetworks) return <p>You need the operator role to create networks.</p>;
  return (
    <div>
      <p><Link href="/networks">← Networks</Link></p>
      <h1>New network</h1>
      <NetworkEditor
        initialForm={EMPTY_FORM}
        initialText={'{\n  "cniVersion": "1.0.0",\n  "name": "",\n  "plugins": []\n}\n'}
        serverIssues={errorIssues(create.error)}
        serverError={create.error ? errorMessage(create.error) : null}
        pending={create.isPending}
        submitLabel="Create network"
        onSubmit={(s) => create.mutate(s)}
      />
    </div>
  );
}
