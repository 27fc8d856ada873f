DROP INDEX "conversations_channel_key_key";--> statement-breakpoint
CREATE UNIQUE INDEX "conversations_channel_tenant_key_key" ON "conversations" USING btree ("channel","tenant_id","conversation_key");--> statement-breakpoint
-- Until now a key was unique per channel, and a tenant whose key another tenant held got `<tenant>/<key>` instead:
-- such a conversation takes its plain key back, so its history continues under the key its events carry.
UPDATE "conversations" AS c
SET "conversation_key" = substr(c."conversation_key", length(c."tenant_id") + 2)
WHERE left(c."conversation_key", length(c."tenant_id") + 1) = c."tenant_id" || '/'
  AND EXISTS (
    SELECT 1 FROM "conversations" AS o
    WHERE o."channel" = c."channel" AND o."tenant_id" <> c."tenant_id"
      AND o."conversation_key" = substr(c."conversation_key", length(c."tenant_id") + 2)
  )
  AND NOT EXISTS (
    SELECT 1 FROM "conversations" AS m
    WHERE m."channel" = c."channel" AND m."tenant_id" = c."tenant_id"
      AND m."conversation_key" = substr(c."conversation_key", length(c."tenant_id") + 2)
  );
