"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { errorIssues, errorMessage, useTRPC, type RouterOutputs } from "~/trpc/react";
import { postQueryClient, type DraftFile } from "./draft-check";

type Preview = RouterOutputs["networks"]["previewImport"];

/**
 * Import conflists: the files are checked by the server first (errors, what each would create or
 * update, overlaps with networks and between the files), nothing written until "Import".
 */
export function ImportPanel({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [pasted, setPasted] = useState("");
  const [files, setFiles] = useState<DraftFile[]>([]);
  const [preview, setPreview] = useState<{ of: string; answer: Preview } | null>(null);
  const importMut = useMutation(
    trpc.networks.import.mutationOptions({ onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.networks.pathKey() }) }),
  );
  async function pick(list: FileList | null) {
    setFiles(await Promise.all(Array.from(list ?? []).map(async (f) => ({ fileName: f.name, text: await f.text() }))));
  }
  const all = [...files, ...(pasted.trim() ? [{ fileName: "pasted.conflist", text: pasted }] : [])];
  const key = JSON.stringify(all);
  useEffect(() => {
    if (all.length === 0) return;
    let current = true;
    const timer = setTimeout(() => {
      postQueryClient.networks.previewImport
        .query({ files: JSON.parse(key) as DraftFile[] })
        .then((answer) => current && setPreview({ of: key, answer }))
        .catch(() => current && setPreview(null));
    }, 400);
    return () => {
      current = false;
      clearTimeout(timer);
    };
    // `key` stands for `all` (a new array on every render).
  }, [key]);
  const checked = preview?.of === key ? preview.answer : null;
  const strands = checked?.files.reduce((n, f) => n + (f.stranded ?? 0), 0) ?? 0;

  return (
    <div className="panel">
      <h2 style={{ marginTop: 0 }}>Import conflists</h2>
      <label>
        <span>Files (.conflist, .conf, .json)</span>
        <input type="file" multiple accept=".conflist,.conf,.json" onChange={(e) => void pick(e.target.files)} />
      </label>
      <label>
        <span>Or paste one config</span>
        <textarea className="mono" rows={8} style={{ width: "100%" }} value={pasted} onChange={(e) => setPasted(e.target.value)} />
      </label>
      {all.length > 0 && !importMut.data && (
        <div aria-label="Import preview" role="status">
          {!checked && <p className="muted">Checking…</p>}
          {checked?.files.map((f, i) => (
            <div key={`${i}-${f.fileName}`} className={f.errors.length > 0 ? "error-box" : f.warnings.length > 0 ? "warn-box" : "ok-box"}>
              <strong>{f.fileName}</strong>: {f.errors.length > 0 ? "invalid" : `${f.name} would be ${f.action === "create" ? "created" : f.action === "update" ? "updated (a new revision)" : "left unchanged"}`}
              {f.errors.map((e) => <div key={`e${e.path.join(".")}${e.message}`}>{e.path.join(".") || "config"}: {e.message}</div>)}
              {f.warnings.map((w) => <div key={`w${w.message}`}>Warning: {w.message}</div>)}
            </div>
          ))}
        </div>
      )}
      {importMut.error && (
        <div className="error-box" role="alert">
          {errorMessage(importMut.error)}
          {errorIssues(importMut.error).slice(1).map((i) => <div key={i.path.join(".") + i.message}>{i.path.join(".")}: {i.message}</div>)}
        </div>
      )}
      {importMut.data && (
        <div className="ok-box">
          {importMut.data.map((o) => <div key={o.fileName}>{o.fileName}: {o.name} {o.action} (r{o.revision})</div>)}
        </div>
      )}
      <div className="row">
        <button
          className={strands > 0 ? "danger" : "primary"}
          disabled={all.length === 0 || importMut.isPending || checked?.ok === false}
          // The preview's counts are the consent: a file whose count moved since is refused and asked again.
          onClick={() => importMut.mutate({ files: all.map((f, i) => ({ ...f, ...(checked?.files[i]?.stranded ? { strandAddresses: checked.files[i].stranded } : {}) })) })}
        >
          Import {all.length || ""} file{all.length === 1 ? "" : "s"}
          {strands > 0 && ` and strand ${strands === 1 ? "1 held address" : `${strands} held addresses`}`}
        </button>
        <button onClick={onDone}>Close</button>
      </div>
    </div>
  );
}
