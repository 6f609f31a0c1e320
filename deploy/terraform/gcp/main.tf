# Chorus on Google Cloud: the jobs and backfill topics with their
# subscriptions, one dead-letter topic, the BigQuery results table, and
# least-privilege service accounts for the worker and for backfill operators.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Pub/Sub's own service agent forwards messages to the dead-letter topic
  # on behalf of the subscription; it needs its own grants (below).
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # The two lanes. Live feedback goes to the jobs topic; backfills
  # (`chorus backfill`) go to the backfill topic. Every worker reads the
  # jobs subscription as its source and the backfill subscription as its
  # backfill_source (the GKE Deployment, the Cloud Run service; the nightly
  # Cloud Run job reads only the backfill one), and serves live work first.
  # Two subscriptions keep a backlog from standing in front of live feedback
  # at the broker, before any worker sees it. Both get the same ack
  # deadline, retention, retry and dead-letter policy, and the same IAM.
  streams = {
    jobs     = "${var.name}-jobs"
    backfill = "${var.name}-backfill"
  }
}

# --- Pub/Sub ---------------------------------------------------------------

resource "google_pubsub_topic" "stream" {
  for_each = local.streams
  name     = each.value
}

# Both kinds of dead letter land here: bad input the worker publishes with
# its reason attributes (source.pubsub.dead_letter_topic), and messages the
# subscriptions' dead-letter policy forwards after max_delivery_attempts.
resource "google_pubsub_topic" "dead_letters" {
  name = "${var.name}-dead-letters"
}

resource "google_pubsub_subscription" "stream" {
  for_each = local.streams
  name     = each.value
  topic    = google_pubsub_topic.stream[each.key].id

  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  # A worker fleet scaled to zero must not lose its subscription.
  expiration_policy {
    ttl = ""
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Redelivery after a nack backs off exponentially, so an outage of a
  # model or the sink does not turn into a hot redelivery loop.
  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }
}

# Dead letters of both lanes are kept here for inspection and replay
# (`chorus dlq`; a replayed backfill message keeps its run_id attribute, so
# the workers serve it as backfill again).
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${var.name}-dead-letters"
  topic                      = google_pubsub_topic.dead_letters.id
  message_retention_duration = var.message_retention_duration
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# What the Pub/Sub service agent needs for dead-lettering: publish to the
# dead-letter topic, and ack the forwarded message on the source
# subscription.
resource "google_pubsub_topic_iam_member" "dead_letters_service_agent" {
  topic  = google_pubsub_topic.dead_letters.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "stream_service_agent" {
  for_each     = local.streams
  subscription = google_pubsub_subscription.stream[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# --- BigQuery --------------------------------------------------------------

resource "google_bigquery_dataset" "feedback" {
  dataset_id  = var.bigquery_dataset
  location    = var.bigquery_location
  description = "Chorus results"
}

# The table `chorus migrate` would create (sinks/bqsink): the sink's schema,
# partitioned by day of scored_at, clustered by tenant, with the primary key
# that BigQuery CDC upserts need. cmd/chorus/deploy_test.go checks that the
# schema file matches bqsink.Schema().
resource "google_bigquery_table" "results" {
  dataset_id  = google_bigquery_dataset.feedback.dataset_id
  table_id    = var.bigquery_table
  description = "Chorus tagged responses, one row per (tenant, response_id, pipeline_version), written as BigQuery CDC upserts."
  schema      = file("${path.module}/chorus_results.schema.json")

  time_partitioning {
    type  = "DAY"
    field = "scored_at"
  }

  clustering = ["tenant"]

  table_constraints {
    primary_key {
      columns = ["tenant", "response_id", "pipeline_version"]
    }
  }

  max_staleness = var.bigquery_max_staleness == "" ? null : var.bigquery_max_staleness

  deletion_protection = true
}

# --- Service accounts ------------------------------------------------------

# The worker (GKE via Workload Identity, Cloud Run service and job).
resource "google_service_account" "worker" {
  account_id   = "${var.name}-worker"
  display_name = "Chorus worker"
}

resource "google_pubsub_subscription_iam_member" "worker" {
  for_each     = local.streams
  subscription = google_pubsub_subscription.stream[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.worker.member
}

resource "google_pubsub_topic_iam_member" "worker_dead_letters" {
  topic  = google_pubsub_topic.dead_letters.name
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

resource "google_bigquery_dataset_iam_member" "worker" {
  dataset_id = google_bigquery_dataset.feedback.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.worker.member
}

resource "google_project_iam_member" "worker_job_user" {
  count   = var.worker_bigquery_job_user ? 1 : 0
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.worker.member
}

resource "google_service_account_iam_member" "worker_workload_identity" {
  count              = var.gke_workload_identity ? 1 : 0
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.gke_namespace}/${var.gke_service_account}]"
}

# The Cloud Run service and job read their config from these secrets
# (deploy/cloudrun); the content is added with `gcloud secrets versions add`.
resource "google_secret_manager_secret" "config" {
  for_each  = toset(["${var.name}-config", "${var.name}-backlog-config"])
  secret_id = each.value
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "worker_config" {
  for_each  = google_secret_manager_secret.config
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

# Backfill operators (`chorus backfill`) publish jobs; nothing else. Only to
# the backfill topic unless backfill_publish_to_jobs is set: a backfill on
# the jobs topic is still served as backfill by the workers (it carries a
# run_id), but it queues in front of live feedback at the broker.
resource "google_service_account" "backfill" {
  account_id   = "${var.name}-backfill"
  display_name = "Chorus backfill operator"
}

resource "google_pubsub_topic_iam_member" "backfill" {
  for_each = { for k, v in local.streams : k => v if k == "backfill" || var.backfill_publish_to_jobs }
  topic    = google_pubsub_topic.stream[each.key].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.backfill.member
}

# KEDA's gcp-pubsub scaler reads the subscription's backlog from Cloud
# Monitoring as the KEDA operator (TriggerAuthentication podIdentity gcp).
resource "google_service_account" "keda" {
  count        = var.keda_workload_identity ? 1 : 0
  account_id   = "${var.name}-keda"
  display_name = "KEDA operator (Pub/Sub backlog metrics)"
}

resource "google_project_iam_member" "keda_monitoring_viewer" {
  count   = var.keda_workload_identity ? 1 : 0
  project = var.project_id
  role    = "roles/monitoring.viewer"
  member  = google_service_account.keda[0].member
}

resource "google_service_account_iam_member" "keda_workload_identity" {
  count              = var.keda_workload_identity ? 1 : 0
  service_account_id = google_service_account.keda[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.keda_namespace}/${var.keda_service_account}]"
}
