CREATE TABLE "routes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"source" text NOT NULL,
	"event" text,
	"agent" text NOT NULL,
	"destination" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "destination" jsonb;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "route_id" uuid;--> statement-breakpoint
CREATE INDEX "routes_source_idx" ON "routes" USING btree ("source");