import { z } from "zod";

/**
 * Webhooks (issue 13 §5). Pure zod, so the console's forms check with the same rules the API does.
 */

/** The events a team reacts to; `webhook.test` is only ever sent by "send test event", to one webhook. */
export const WebhookEventKind = z.enum(["operation.failed", "host.offline", "ipam.leak", "proposal.awaiting_review"]);
export type WebhookEventKind = z.infer<typeof WebhookEventKind>;
export const WEBHOOK_EVENT_KINDS = WebhookEventKind.options;
export const WEBHOOK_TEST_EVENT = "webhook.test";

/** What each event means, as the console's form shows it. */
export const WEBHOOK_EVENT_DESCRIPTIONS: Readonly<Record<WebhookEventKind, string>> = {
  "operation.failed": "an operation (attach, detach, check, reapply) failed for good: out of attempts or not retryable",
  "host.offline": "a host's agent stopped heartbeating (unseen for three heartbeats)",
  "ipam.leak": "an address was first judged a leak (its holder is gone)",
  "proposal.awaiting_review": "a proposed change awaits review",
};

export const WebhookName = z
  .string()
  .min(1, "name the webhook after where it goes")
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._:-]*$/, "letters, digits, spaces and . _ : - only, starting with a letter or digit");

/** The destination's form only; where it points is checked against the network (webhookDestination.ts). */
export const WebhookUrl = z
  .string()
  .max(2000, "at most 2000 characters")
  .refine((s) => URL.canParse(s), "must be an absolute URL, e.g. https://hooks.example.com/switchyard")
  .refine((s) => !URL.canParse(s) || ["http:", "https:"].includes(new URL(s).protocol), "only http:// and https:// URLs are delivered to")
  .refine((s) => !URL.canParse(s) || (new URL(s).username === "" && new URL(s).password === ""), "credentials in the URL are not supported: the payload is signed instead");

const Events = z.array(WebhookEventKind).min(1, "choose at least one event").max(WEBHOOK_EVENT_KINDS.length);

export const CreateWebhookInput = z.object({
  name: WebhookName,
  url: WebhookUrl,
  events: Events,
  enabled: z.boolean().default(true),
  /** Admins only (so is every change here): deliver to loopback, link-local, unspecified addresses and the console itself. */
  allowLocal: z.boolean().default(false),
});
export type CreateWebhookInput = z.infer<typeof CreateWebhookInput>;

const WebhookId = z.string().min(1).max(64);

export const UpdateWebhookInput = z.object({
  id: WebhookId,
  name: WebhookName.optional(),
  url: WebhookUrl.optional(),
  events: Events.optional(),
  enabled: z.boolean().optional(),
  allowLocal: z.boolean().optional(),
});
export type UpdateWebhookInput = z.infer<typeof UpdateWebhookInput>;

export const WebhookIdInput = z.object({ id: WebhookId });
export const RedeliverInput = z.object({ deliveryId: WebhookId });

export const WebhookDeliveryStatus = z.enum(["pending", "succeeded", "failed"]);
export const ListDeliveriesInput = z.object({
  webhookId: WebhookId,
  status: WebhookDeliveryStatus.optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
