// Package sqs stands in for the SQS SDK.
package sqs
