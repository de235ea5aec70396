variable "region" {
  description = "AWS region to run in. Null takes the region from AWS_REGION or the AWS profile."
  type        = string
  default     = null
}

variable "allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to connect to the Kafka port, such as [\"203.0.113.7/32\"]. There is no default: say who may connect; [\"0.0.0.0/0\"] opens the broker to the whole internet (set SIESTA_SASL_USERS in /etc/siesta.env to make clients authenticate)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_cidrs) > 0
    error_message = "allowed_cidrs must name at least one CIDR block."
  }
}

variable "siesta_release_url" {
  description = "HTTPS URL of a static linux/amd64 siesta binary (CGO_ENABLED=0 go build), downloaded at first boot."
  type        = string

  validation {
    condition     = can(regex("^https://[^'\\s]+$", var.siesta_release_url))
    error_message = "siesta_release_url must be an https:// URL without quotes or spaces."
  }
}

variable "siesta_sha256" {
  description = "SHA-256 of the binary at siesta_release_url, in hex; the instance refuses a download that does not match."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.siesta_sha256))
    error_message = "siesta_sha256 must be 64 lowercase hex digits (the first field of sha256sum's output)."
  }
}

variable "kafka_port" {
  description = "TCP port clients connect to; the systemd socket listens on it."
  type        = number
  default     = 9092
}

variable "idle_timeout" {
  description = "SIESTA_IDLE_TIMEOUT: how long siesta runs with no client connected before it exits; the next connection starts it again."
  type        = string
  default     = "60s"
}

variable "instance_type" {
  description = "EC2 instance type. t3.micro is free-tier eligible."
  type        = string
  default     = "t3.micro"
}

variable "volume_size" {
  description = "Size in GiB of the encrypted gp3 root volume, which holds the SQLite file. The free tier covers 30 GiB of EBS."
  type        = number
  default     = 16

  validation {
    condition     = var.volume_size >= 8 && var.volume_size <= 30
    error_message = "volume_size must be between 8 and 30 GiB (the Debian image needs 8; the free tier ends at 30)."
  }
}

variable "ami_id" {
  description = "AMI to boot. Null picks the newest official Debian 12 amd64 image; any image with systemd, cloud-init, curl and sha256sum works. The instance ignores later changes, so a newer image never replaces it (and its data)."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Subnet to launch in. Null picks the default VPC's default subnet that sorts first; set it when that zone has no t3.micro capacity."
  type        = string
  default     = null
}

variable "elastic_ip" {
  description = "Attach an Elastic IP, so the bootstrap address survives a stop and start of the instance."
  type        = bool
  default     = false
}

variable "ssh_key_name" {
  description = "EC2 key pair for SSH as user admin (to read journalctl -u siesta or run siesta backup). Null: no key."
  type        = string
  default     = null
}

variable "ssh_cidrs" {
  description = "IPv4 CIDR blocks allowed to SSH in. Empty: port 22 stays closed."
  type        = list(string)
  default     = []
}

variable "name" {
  description = "Name tag of the instance, and prefix of the security group's name."
  type        = string
  default     = "siesta"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
