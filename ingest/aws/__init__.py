"""AWS delivery paths that Leash pulls from: S3 log files announced on SQS."""
