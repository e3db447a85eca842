import { NetworksList } from "~/components/networks-list";

export default function NetworksPage() {
  return <NetworksList />;
}
