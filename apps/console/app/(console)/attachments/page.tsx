import { AttachmentsPage } from "~/components/attachments-page";

function single(value: string | string[] | undefined): string | undefined {
  return (Array.isArray(value) ? value[0] : value) || undefined;
}

export default async function Attachments({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  return <AttachmentsPage hostId={single(params.hostId)} networkId={single(params.networkId)} />;
}
