import type { Metadata } from "next";
import type { ReactNode } from "react";
import { TrpcProviders } from "~/trpc/react";
import "./globals.css";

export const metadata: Metadata = { title: "Switchyard", description: "Container networking console" };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <TrpcProviders>{children}</TrpcProviders>
      </body>
    </html>
  );
}
