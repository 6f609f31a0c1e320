# Chorus on AWS: the jobs (live) and backfill queues, each with a redrive
# policy to the one dead-letter queue, and least-privilege IAM for the
# worker and for backfill operators.

locals {
  oidc_issuer = var.eks_oidc_provider_arn == "" ? "" : element(split("oidc-provider/", var.eks_oidc_provider_arn), 1)

  streams = {
    jobs     = "${var.name}-jobs"
    backfill = "${var.name}-backfill"
  }
}

# --- SQS -------------------------------------------------------------------

# Both kinds of dead letter of both lanes land here: bad input the worker
# sends with reason message attributes (source.sqs.dead_letter_queue_url
# and backfill_source.sqs.dead_letter_queue_url), and messages the redrive
# policies move after max_receive_count receives. One queue: one place to
# look (`chorus dlq`), one alarm; a backfill's dead letters are told apart
# by their run_id attribute, and SQS's own redrive (StartMessageMoveTask
# without a destination) returns each message to the queue it came from.
resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = var.dead_letter_retention_seconds
  sqs_managed_sse_enabled   = true
}

# The two lanes. Live feedback goes to the jobs queue; backfills
# (`chorus backfill --sqs-queue-url`) go to the backfill queue, read by the
# same workers as backfill_source and served after live work: a backlog
# there never stands in front of live feedback on the jobs queue. Both get
# the same settings, redrive policy and IAM. Keep their retention below the
# dead-letter queue's: SQS counts a dead letter's age from when it was first
# sent, not from the move, so only a longer DLQ retention keeps it there for
# days.
resource "aws_sqs_queue" "stream" {
  for_each                   = local.streams
  name                       = each.value
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

# The queues were one resource each before they became one for_each: keep
# existing state.
moved {
  from = aws_sqs_queue.jobs
  to   = aws_sqs_queue.stream["jobs"]
}

moved {
  from = aws_sqs_queue.backfill
  to   = aws_sqs_queue.stream["backfill"]
}

# Only the jobs and backfill queues may redrive into the dead-letter queue.
# Jobs first, as the policy has always been written: a for over the map
# would put backfill first and change the stored policy text.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.stream["jobs"].arn, aws_sqs_queue.stream["backfill"].arn]
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
    resources = [for q in aws_sqs_queue.stream : q.arn]
  }

  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_policy" "worker" {
  name        = "${var.name}-worker"
  description = "Chorus worker: consume the jobs and backfill queues, dead-letter to their DLQ."
  policy      = data.aws_iam_policy_document.worker.json
}

# Backfill operators (`chorus backfill`) send jobs; nothing else. Only to
# the backfill queue unless backfill_publish_to_jobs is set: a backfill on
# the jobs queue is still served as backfill by the workers (it carries a
# run_id), but it queues in front of live feedback in SQS.
data "aws_iam_policy_document" "backfill" {
  statement {
    sid       = "PublishBackfill"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
    resources = concat([aws_sqs_queue.stream["backfill"].arn], var.backfill_publish_to_jobs ? [aws_sqs_queue.stream["jobs"].arn] : [])
  }
}

resource "aws_iam_policy" "backfill" {
  name        = "${var.name}-backfill"
  description = "Chorus backfill: send jobs to the backfill queue."
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
