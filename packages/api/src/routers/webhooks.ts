import { createWebhook, deleteWebhook, listDeliveries, listWebhooks, redeliver, sendTestEvent, updateWebhook } from "../domain/webhooks";
import { CreateWebhookInput, ListDeliveriesInput, RedeliverInput, UpdateWebhookInput, WebhookIdInput } from "../schemas/webhooks";
import { adminProcedure, operatorProcedure, router } from "../trpc";

/**
 * Webhooks (issue 13 §5). Admins create, change (the allow-local flag included), delete, test and
 * redeliver; operators and admins read the list and the delivery log (an operator sees each URL's
 * origin only). Viewers see nothing of them.
 */
export const webhooksRouter = router({
  list: operatorProcedure.query(({ ctx }) => listWebhooks(ctx)),
  deliveries: operatorProcedure.input(ListDeliveriesInput).query(({ ctx, input }) => listDeliveries(ctx, input)),
  create: adminProcedure.input(CreateWebhookInput).mutation(({ ctx, input }) => createWebhook(ctx, input)),
  update: adminProcedure.input(UpdateWebhookInput).mutation(({ ctx, input }) => updateWebhook(ctx, input)),
  delete: adminProcedure.input(WebhookIdInput).mutation(({ ctx, input }) => deleteWebhook(ctx, input)),
  sendTest: adminProcedure.input(WebhookIdInput).mutation(({ ctx, input }) => sendTestEvent(ctx, input)),
  redeliver: adminProcedure.input(RedeliverInput).mutation(({ ctx, input }) => redeliver(ctx, input)),
});
