import { LatestJob } from "~/components/latest-job";

export default async function LatestJobPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <LatestJob attachmentId={id} />;
}
