output "bootstrap" {
  description = "host:port for Kafka clients (bootstrap.servers); siesta advertises the same host."
  value       = "${local.public_host}:${var.kafka_port}"
}

output "instance_id" {
  description = "ID of the EC2 instance."
  value       = aws_instance.this.id
}

output "ami_id" {
  description = "AMI the instance booted from."
  value       = aws_instance.this.ami
}
