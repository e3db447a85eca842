import { Suspense } from "react";
import { IpamPage } from "~/components/ipam/ipam-page";

export default async function NetworkIpamPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  // useSearchParams (the map's zoom and the address opened live in the URL) needs a Suspense boundary.
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <IpamPage id={id} />
    </Suspense>
  );
}
