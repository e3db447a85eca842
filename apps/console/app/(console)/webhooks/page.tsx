"use client";

import { WebhooksPage } from "~/components/webhooks";

export default function Page() {
  return <WebhooksPage />;
}
