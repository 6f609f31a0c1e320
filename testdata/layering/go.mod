// A fixture for architecture_test.go: packages that break the import rules.
module github.com/chorusml/chorus

go 1.26.0

require github.com/aws/aws-sdk-go-v2/service/sqs v0.0.0

replace github.com/aws/aws-sdk-go-v2/service/sqs => ./third_party/sqs
