# Chorus on AWS: the jobs queue with a redrive policy to its dead-letter
# queue, and least-privilege IAM for the worker and for backfill operators.

locals {
  oidc_issuer = var.eks_oidc_provider_arn == "" ? "" : element(split("oidc-provider/", var.eks_oidc_provider_arn), 1)
}

# --- SQS -------------------------------------------------------------------

# Both kinds of dead letter land here: bad input the worker sends with
# reason message attributes (source.sqs.dead_letter_queue_url), and
# messages the redrive policy moves after max_receive_count receives.
resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = var.dead_letter_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${var.name}-jobs"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  # Long polling by default, for any consumer that does not ask.
  receive_wait_time_seconds = 20
  sqs_managed_sse_enabled   = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Only the jobs queue may redrive into the dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.jobs.arn]
  })
}

# --- IAM -------------------------------------------------------------------

# The worker. SQS authorises DeleteMessageBatch and
# ChangeMessageVisibilityBatch with sqs:DeleteMessage and
# sqs:ChangeMessageVisibility: there are no separate batch actions to grant.
data "aws_iam_policy_document" "worker" {
  statement {
    sid = "ConsumeJobs"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.jobs.arn]
  }

  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_policy" "worker" {
  name        = "${var.name}-worker"
  description = "Chorus worker: consume the jobs queue, dead-letter to its DLQ."
  policy      = data.aws_iam_policy_document.worker.json
}

# Backfill operators (`chorus backfill`) send jobs; nothing else.
data "aws_iam_policy_document" "backfill" {
  statement {
    sid       = "PublishJobs"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.jobs.arn]
  }
}

resource "aws_iam_policy" "backfill" {
  name        = "${var.name}-backfill"
  description = "Chorus backfill: send jobs to the jobs queue."
  policy      = data.aws_iam_policy_document.backfill.json
}

# IRSA: the worker's Kubernetes service account assumes this role
# (eks.amazonaws.com/role-arn in deploy/kubernetes/aws-sqs).
data "aws_iam_policy_document" "worker_trust" {
  count = var.eks_oidc_provider_arn == "" ? 0 : 1

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.eks_namespace}:${var.eks_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = var.keda_operator_role_arn == "" ? [] : [var.keda_operator_role_arn]
    content {
      actions = ["sts:AssumeRole"]
      principals {
        type        = "AWS"
        identifiers = [statement.value]
      }
    }
  }
}

resource "aws_iam_role" "worker" {
  count              = var.eks_oidc_provider_arn == "" ? 0 : 1
  name               = "${var.name}-worker"
  assume_role_policy = data.aws_iam_policy_document.worker_trust[0].json
}

resource "aws_iam_role_policy_attachment" "worker" {
  count      = var.eks_oidc_provider_arn == "" ? 0 : 1
  role       = aws_iam_role.worker[0].name
  policy_arn = aws_iam_policy.worker.arn
}
