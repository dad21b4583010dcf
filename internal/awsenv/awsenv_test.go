package awsenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	base := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		env        map[string]string
		wantErr    bool
		wantDDB    string
		wantSQS    string
		wantRegion string
	}{
		{name: "lambda defaults", env: base, wantRegion: "eu-west-1"},
		{name: "default region fallback", env: with("AWS_REGION", "", "AWS_DEFAULT_REGION", "us-west-2"), wantRegion: "us-west-2"},
		{name: "no region", env: with("AWS_REGION", ""), wantErr: true},
		{name: "no credentials", env: with("AWS_ACCESS_KEY_ID", ""), wantErr: true},
		{name: "global endpoint", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), wantRegion: "eu-west-1", wantDDB: "http://127.0.0.1:5000", wantSQS: "http://127.0.0.1:5000"},
		{name: "service endpoint wins", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:6000"), wantRegion: "eu-west-1", wantDDB: "http://127.0.0.1:6000", wantSQS: "http://127.0.0.1:5000"},
		{name: "endpoints ignored", env: with("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"), wantRegion: "eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Load(env(tt.env))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := e.Config.Region; got != tt.wantRegion {
				t.Errorf("region = %q, want %q", got, tt.wantRegion)
			}
			if got := aws.ToString(e.Endpoint(DynamoDB)); got != tt.wantDDB {
				t.Errorf("dynamodb endpoint = %q, want %q", got, tt.wantDDB)
			}
			if got := aws.ToString(e.Endpoint(SQS)); got != tt.wantSQS {
				t.Errorf("sqs endpoint = %q, want %q", got, tt.wantSQS)
			}
			creds, err := e.Config.Credentials.Retrieve(context.Background())
			if err != nil || creds.AccessKeyID != "AKID" || creds.SessionToken != "TOKEN" {
				t.Errorf("credentials = %+v, %v; want the environment's", creds, err)
			}
		})
	}
}
