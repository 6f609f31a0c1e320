output "jobs_topic" {
  description = "Topic producers publish live feedback to (the live lane)."
  value       = google_pubsub_topic.stream["jobs"].id
}

output "backfill_topic" {
  description = "Topic `chorus backfill` publishes to (--pubsub-topic): the backfill lane."
  value       = google_pubsub_topic.stream["backfill"].id
}

output "jobs_subscription" {
  description = "The configs' source.pubsub.subscription (and the KEDA live trigger's subscriptionName)."
  value       = google_pubsub_subscription.stream["jobs"].name
}

output "backfill_subscription" {
  description = "The configs' backfill_source.pubsub.subscription (the KEDA backfill trigger's, and the Cloud Run job's source)."
  value       = google_pubsub_subscription.stream["backfill"].name
}

output "subscriptions" {
  description = "Subscription per stream (jobs, backfill)."
  value       = { for k, s in google_pubsub_subscription.stream : k => s.name }
}

output "dead_letter_topic" {
  description = "The configs' source.pubsub.dead_letter_topic."
  value       = google_pubsub_topic.dead_letters.name
}

output "dead_letter_subscription" {
  description = "Pull dead letters (with their chorus_error_class attributes) from here."
  value       = google_pubsub_subscription.dead_letters.name
}

output "results_table" {
  description = "project.dataset.table of the results."
  value       = "${var.project_id}.${google_bigquery_dataset.feedback.dataset_id}.${google_bigquery_table.results.table_id}"
}

output "worker_service_account_email" {
  description = "Annotate the Kubernetes service account with it (iam.gke.io/gcp-service-account) and run the Cloud Run service and job as it."
  value       = google_service_account.worker.email
}

output "backfill_service_account_email" {
  description = "Identity for operators running `chorus backfill`."
  value       = google_service_account.backfill.email
}

output "keda_service_account_email" {
  description = "Annotate the keda-operator Kubernetes service account with it (iam.gke.io/gcp-service-account)."
  value       = var.keda_workload_identity ? google_service_account.keda[0].email : null
}
