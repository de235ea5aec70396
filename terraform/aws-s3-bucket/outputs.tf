output "bucket" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "policy_arn" {
  description = "ARN of the IAM policy granting siesta access to the prefix; attach it to siesta's role or user."
  value       = aws_iam_policy.siesta.arn
}

output "storage_url" {
  description = "SIESTA_STORAGE for this bucket and prefix."
  value       = "s3://${aws_s3_bucket.this.id}/${var.prefix}?region=${aws_s3_bucket.this.region}"
}
