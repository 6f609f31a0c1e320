variable "project_id" {
  description = "Google Cloud project for the topics, subscriptions, dataset and service accounts."
  type        = string
}

variable "region" {
  description = "Default region for regional resources."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name. The chorus configs in deploy/ assume the default."
  type        = string
  default     = "chorus"
}

variable "max_delivery_attempts" {
  description = "Deliveries before Pub/Sub moves a message to the dead-letter topic (5 to 100). Keep it at or above the config's worker.max_delivery_attempts, so the worker dead-letters with a reason first."
  type        = number
  default     = 5
}

variable "retry_minimum_backoff" {
  description = "Shortest redelivery delay after a nack or an expired ack deadline."
  type        = string
  default     = "10s"
}

variable "retry_maximum_backoff" {
  description = "Longest redelivery delay (at most 600s)."
  type        = string
  default     = "600s"
}

variable "ack_deadline_seconds" {
  description = "Initial ack deadline; chorus extends it while a job is in flight (source.pubsub.max_extension)."
  type        = number
  default     = 60
}

variable "message_retention_duration" {
  description = "How long unacked messages are kept on the subscriptions (and dead letters on theirs)."
  type        = string
  default     = "604800s"
}

variable "bigquery_dataset" {
  description = "Dataset of the results table (the config's sink.bigquery.dataset)."
  type        = string
  default     = "feedback"
}

variable "bigquery_table" {
  description = "Results table (the config's sink.bigquery.table)."
  type        = string
  default     = "chorus_results"
}

variable "bigquery_location" {
  description = "Dataset location (the config's sink.bigquery.location)."
  type        = string
  default     = "EU"
}

variable "bigquery_max_staleness" {
  description = "max_staleness of the results table as a BigQuery INTERVAL (e.g. \"0-0 0 0:15:0\"): cheaper CDC reads that may lag by up to this much. Empty: reads see every write."
  type        = string
  default     = ""
}

variable "worker_bigquery_job_user" {
  description = "Also grant the worker roles/bigquery.jobUser on the project. The worker only streams rows (Storage Write API) and reads table metadata, which dataEditor covers; turn this on only for tools that run queries as the worker."
  type        = bool
  default     = false
}

variable "gke_workload_identity" {
  description = "Let the Kubernetes service account gke_namespace/gke_service_account act as the worker's Google service account (GKE Workload Identity)."
  type        = bool
  default     = true
}

variable "gke_namespace" {
  description = "Namespace of the chorus worker on GKE (deploy/kubernetes/gcp-pubsub)."
  type        = string
  default     = "chorus"
}

variable "gke_service_account" {
  description = "Kubernetes service account of the chorus worker."
  type        = string
  default     = "chorus-worker"
}

variable "keda_workload_identity" {
  description = "Create a Google service account for the KEDA operator (keda/keda-operator) with roles/monitoring.viewer, so the gcp-pubsub scaler can read backlog metrics."
  type        = bool
  default     = true
}

variable "keda_namespace" {
  description = "Namespace of the KEDA operator."
  type        = string
  default     = "keda"
}

variable "keda_service_account" {
  description = "Kubernetes service account of the KEDA operator."
  type        = string
  default     = "keda-operator"
}

variable "backfill_publish_to_jobs" {
  description = "Also let the chorus-backfill service account publish to the jobs topic. Off: backfills can only go to the backfill topic, where they never queue in front of live feedback."
  type        = bool
  default     = false
}
