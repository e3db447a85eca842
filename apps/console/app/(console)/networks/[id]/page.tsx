import { NetworkDetail } from "~/components/network-detail";

export default async function NetworkPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <NetworkDetail id={id} />;
}
