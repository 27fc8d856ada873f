CREATE TABLE "health_checks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"component" text NOT NULL,
	"ok" boolean NOT NULL,
	"detail" text,
	"latency_ms" integer,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "health_checks_component_idx" ON "health_checks" USING btree ("component","checked_at");--> statement-breakpoint
ALTER TABLE "conversations" DROP COLUMN "updated_at";