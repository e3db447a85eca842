"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { ConfirmDialog } from "../confirm-dialog";
import { useLiveEvents, useRefetchLive } from "../live-updates";
import { AbsoluteTime } from "../relative-time";
import { useCan } from "../user-context";
import { groupBlocksByHost, parseBlockSize, spanLabel } from "./block-math";

type Blocks = RouterOutputs["ipam"]["blocks"];

/**
 * Per-host blocks (issue 11 item 5): the network's setting and, per host, the blocks of the range
 * it was given (used of capacity, and whether it was extended when the first filled). An operator
 * sets a block size or turns blocks off; a viewer reads.
 */
export function HostBlocks({ networkId, networkName }: { networkId: string; networkName: string }) {
  const trpc = useTRPC();
  const can = useCan();
  const refetch = useRefetchLive();
  const blocks = useQuery(trpc.ipam.blocks.queryOptions({ networkId }));
  // A block is given in the transaction of an attachment's create (its operation's first status
  // says so) and the network's config sets the range: both re-read the list. Lease reports re-read
  // it with the rest of the page (ipam-page.tsx).
  useLiveEvents("operation", (e) => {
    if (e.kind === "resync" || e.kind === "status") refetch({ queryKey: trpc.ipam.blocks.queryKey({ networkId }) });
  });
  useLiveEvents("network", (e) => {
    if (e.kind === "resync" || e.networkId === networkId) refetch({ queryKey: trpc.ipam.blocks.queryKey({ networkId }) });
  });
  return (
    <section className="panel" aria-label="Per-host blocks">
      <h2>Per-host blocks</h2>
      <p className="muted hint">
        With per-host blocks each host of {networkName} receives its config with the host-local range narrowed to its own blocks,
        so two hosts never hand out the same address; a host whose blocks fill gets another.
      </p>
      {blocks.error && <div className="error-box">{errorMessage(blocks.error)}</div>}
      {blocks.data && <BlockSetting data={blocks.data} />}
      {blocks.data && can.editAddresses && <BlockSettingForm networkId={networkId} data={blocks.data} />}
      {blocks.data && <BlockTable data={blocks.data} />}
    </section>
  );
}

function BlockSetting({ data }: { data: Blocks }) {
  return (
    <p data-testid="block-setting">
      {data.blockSize === null ? (
        <>Off: every host receives the network&apos;s whole range.</>
      ) : (
        <>On: blocks of <strong>{data.blockSize.toLocaleString()}</strong> addresses.</>
      )}
    </p>
  );
}

function BlockSettingForm({ networkId, data }: { networkId: string; data: Blocks }) {
  const trpc = useTRPC();
  const refetch = useRefetchLive();
  const [size, setSize] = useState("");
  const [turningOff, setTurningOff] = useState(false);
  const [typo, setTypo] = useState<string | null>(null);
  const refresh = () => refetch({ queryKey: trpc.ipam.blocks.queryKey({ networkId }) });
  const set = useMutation(trpc.ipam.setBlocks.mutationOptions({ onSuccess: () => { setSize(""); setTurningOff(false); refresh(); } }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseBlockSize(size);
    set.reset();
    setTypo(parsed.ok ? null : parsed.message);
    if (parsed.ok) set.mutate({ networkId, blockSize: parsed.value });
  };
  const hosts = new Set(data.blocks.map((b) => b.hostId)).size;
  return (
    <>
      <form className="row" onSubmit={submit}>
        <label>
          Block size <input value={size} onChange={(e) => setSize(e.target.value)} placeholder="/26 or 64" className="mono" required aria-describedby="block-size-hint" />
        </label>
        <button type="submit" disabled={set.isPending}>{data.blockSize === null ? "Turn on" : "Change"}</button>
        {data.blockSize !== null && <button type="button" onClick={() => { set.reset(); setTurningOff(true); }}>Turn off</button>}
      </form>
      <p className="muted hint" id="block-size-hint">A prefix length (&quot;/26&quot;) or a count of addresses; the network&apos;s range must hold at least two blocks.</p>
      {typo && <div className="error-box" role="alert">{typo}</div>}
      {set.error && !turningOff && <div className="error-box" role="alert">{errorMessage(set.error)}</div>}
      <ConfirmDialog
        open={turningOff}
        title="Turn per-host blocks off?"
        description={<>The {data.blocks.length} block{data.blocks.length === 1 ? "" : "s"} given to {hosts} host{hosts === 1 ? "" : "s"} are dropped: configs rendered from now on carry the network&apos;s whole range again.</>}
        confirmLabel="Turn off"
        danger
        pending={set.isPending}
        error={set.error && turningOff ? errorMessage(set.error) : null}
        onConfirm={() => set.mutate({ networkId, blockSize: null })}
        onCancel={() => setTurningOff(false)}
      />
    </>
  );
}

function BlockTable({ data }: { data: Blocks }) {
  const hosts = groupBlocksByHost(data.blocks);
  if (hosts.length === 0) return data.blockSize === null ? null : <p className="muted">No host has a block yet: a host gets its first when an attachment of this network is created on it.</p>;
  return (
    <table aria-label="Blocks by host">
      <thead><tr><th>Host</th><th>Blocks</th><th>Used</th><th>Extended</th><th>Since</th></tr></thead>
      <tbody>
        {hosts.map((h) => (
          <tr key={h.hostId} data-testid={`blocks-${h.hostName}`}>
            <td><Link href={`/hosts/${h.hostId}`}>{h.hostName}</Link></td>
            <td>
              <ul className="evidence">
                {h.blocks.map((b) => (
                  <li key={b.first} className="mono">{spanLabel(b.first, b.last)} <span className="muted">({b.leases} of {b.size.toLocaleString()})</span></li>
                ))}
              </ul>
            </td>
            <td>{h.leases} of {h.capacity.toLocaleString()}</td>
            <td>{h.extensions > 0 ? <strong>extended: {h.blocks.length} blocks</strong> : "no"}</td>
            <td><AbsoluteTime date={h.since} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
