package config

import (
	"strings"
	"testing"
)

func TestFromEnvSchedule(t *testing.T) {
	full := map[string]string{
		EnvScheduleGroup:   "fluxkit-sms-schedules",
		EnvScheduleRoleARN: "arn:aws:iam::123456789012:role/fluxkit-sms-SchedulerRole-1A2B3C",
		EnvQueueARN:        "arn:aws:sqs:eu-west-1:123456789012:fluxkit-sms-queue",
	}
	c, err := FromEnv(func(k string) string { return full[k] })
	if err != nil {
		t.Fatalf("FromEnv error = %v", err)
	}
	if c.ScheduleGroup != full[EnvScheduleGroup] || c.ScheduleRoleARN != full[EnvScheduleRoleARN] || c.QueueARN != full[EnvQueueARN] || !c.Schedules() {
		t.Errorf("FromEnv = group %q, role %q, queue %q, schedules %v; want the three set", c.ScheduleGroup, c.ScheduleRoleARN, c.QueueARN, c.Schedules())
	}
	if none, _ := FromEnv(func(string) string { return "" }); none.Schedules() {
		t.Errorf("Schedules() without the settings = true, want false")
	}
	tests := []struct {
		name    string
		env     map[string]string
		setting string
		want    string
	}{
		{"group alone", map[string]string{EnvScheduleGroup: "g"}, EnvScheduleRoleARN, "required with SMS_SCHEDULE_GROUP"},
		{"group alone names the queue too", map[string]string{EnvScheduleGroup: "g"}, EnvQueueARN, "required with SMS_SCHEDULE_GROUP"},
		{"bad group", with(full, map[string]string{EnvScheduleGroup: "my group"}), EnvScheduleGroup, "schedule group name"},
		{"bad role", with(full, map[string]string{EnvScheduleRoleARN: "SchedulerRole"}), EnvScheduleRoleARN, "IAM role ARN"},
		{"queue URL for ARN", with(full, map[string]string{EnvQueueARN: "https://sqs.eu-west-1.amazonaws.com/123456789012/q"}), EnvQueueARN, "SQS queue ARN"},
		{"admin scope with a space", map[string]string{EnvJWTAdminScope: "sms admin"}, EnvJWTAdminScope, "single scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromEnv(func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), "config: "+tt.setting+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromEnv error = %v, want %s: …%s…", err, tt.setting, tt.want)
			}
		})
	}
	for v, want := range map[string]string{"": DefaultJWTAdminScope, "ops:cancel": "ops:cancel", "OFF": ""} {
		c, err := FromEnv(func(k string) string { return map[string]string{EnvJWTAdminScope: v}[k] })
		if err != nil || c.JWTAdminScope != want {
			t.Errorf("JWT_ADMIN_SCOPE=%q: scope %q, %v; want %q", v, c.JWTAdminScope, err, want)
		}
	}
}
