import { ServicesList } from "~/components/services/services-list";

export default function ServicesPage() {
  return <ServicesList />;
}
