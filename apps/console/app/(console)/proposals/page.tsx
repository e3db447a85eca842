import { ProposalsPage } from "~/components/proposals";

export default function Page() {
  return <ProposalsPage />;
}
