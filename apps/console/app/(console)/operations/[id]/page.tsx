import { OperationView } from "~/components/operation-view";

export default async function OperationPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <OperationView id={id} />;
}
