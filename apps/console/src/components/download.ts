import { strToU8, zipSync } from "fflate";

export function downloadBlob(blob: Blob, fileName: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** One file as itself; several as a zip of files named the way /etc/cni/net.d expects. */
export function downloadConfigFiles(files: { fileName: string; text: string }[], zipName: string) {
  if (files.length === 1) {
    downloadBlob(new Blob([files[0]!.text], { type: "application/json" }), files[0]!.fileName);
    return;
  }
  const zip = zipSync(Object.fromEntries(files.map((f) => [f.fileName, strToU8(f.text)])));
  downloadBlob(new Blob([zip as BlobPart], { type: "application/zip" }), zipName);
}
