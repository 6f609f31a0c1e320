variable "region" {
  description = "AWS region of the queues (the config's source.sqs.region)."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource name. The chorus configs in deploy/ assume the default."
  type        = string
  default     = "chorus"
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the dead-letter queue. Keep it at or above the config's worker.max_delivery_attempts, so the worker dead-letters with a reason first."
  type        = number
  default     = 5
}

variable "visibility_timeout_seconds" {
  description = "Queue default visibility timeout; chorus asks for source.sqs.visibility_timeout on receive and extends it while a job is in flight."
  type        = number
  default     = 60
}

variable "message_retention_seconds" {
  description = "How long the jobs and backfill queues keep a message (4 days). Keep it below dead_letter_retention_seconds: SQS counts a dead letter's age from its first enqueue."
  type        = number
  default     = 345600
}

variable "dead_letter_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (14 days, the maximum)."
  type        = number
  default     = 1209600
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider. When set, an IRSA role for the worker is created; empty: only the policy is, to attach where you run chorus."
  type        = string
  default     = ""
}

variable "eks_namespace" {
  description = "Namespace of the chorus worker on EKS (deploy/kubernetes/aws-sqs)."
  type        = string
  default     = "chorus"
}

variable "eks_service_account" {
  description = "Kubernetes service account of the chorus worker."
  type        = string
  default     = "chorus-worker"
}

variable "keda_operator_role_arn" {
  description = "IAM role of the KEDA operator. With TriggerAuthentication identityOwner: workload, KEDA assumes the worker role to read the queue length; this lets it. Empty: no such trust."
  type        = string
  default     = ""
}

variable "backfill_publish_to_jobs" {
  description = "Also let the backfill policy send to the jobs queue. Off: backfills can only go to the backfill queue, where they never queue in front of live feedback."
  type        = bool
  default     = false
}
