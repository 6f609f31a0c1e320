output "jobs_queue_url" {
  description = "The config's source.sqs.queue_url (and the KEDA live trigger's queueURL): the live lane."
  value       = aws_sqs_queue.stream["jobs"].url
}

output "backfill_queue_url" {
  description = "The config's backfill_source.sqs.queue_url, the KEDA backfill trigger's queueURL, and `chorus backfill --sqs-queue-url`."
  value       = aws_sqs_queue.stream["backfill"].url
}

output "dead_letter_queue_url" {
  description = "The config's source.sqs.dead_letter_queue_url and backfill_source.sqs.dead_letter_queue_url."
  value       = aws_sqs_queue.dead_letters.url
}

output "worker_policy_arn" {
  description = "Attach to whatever runs the worker outside EKS."
  value       = aws_iam_policy.worker.arn
}

output "worker_role_arn" {
  description = "Annotate the Kubernetes service account with it (eks.amazonaws.com/role-arn)."
  value       = var.eks_oidc_provider_arn == "" ? null : aws_iam_role.worker[0].arn
}

output "backfill_policy_arn" {
  description = "Attach to the operators who run `chorus backfill`."
  value       = aws_iam_policy.backfill.arn
}
