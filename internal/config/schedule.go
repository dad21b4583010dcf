package config

import (
	"regexp"
	"strings"
)

// Environment variables of scheduled send (docs/scheduling.md).
const (
	EnvScheduleGroup   = "SMS_SCHEDULE_GROUP"
	EnvScheduleRoleARN = "SMS_SCHEDULE_ROLE_ARN"
	EnvQueueARN        = "SMS_QUEUE_ARN"
)

// The shapes EventBridge Scheduler accepts.
var (
	scheduleGroupPattern = regexp.MustCompile(`^[0-9A-Za-z._-]{1,64}$`)
	roleARNPattern       = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	queueARNPattern      = regexp.MustCompile(`^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[\w-]{1,80}$`)
)

// scheduleFromEnv reads the scheduler settings into c,
// reporting each bad value through fail. The three scheduler settings go
// together: all set lets send times go beyond the queue's 15 minutes,
// none keeps them within; a part of them is an error naming what is
// missing.
func scheduleFromEnv(get func(string) string, c *Config, fail func(*SettingError)) {
	c.ScheduleGroup, c.ScheduleRoleARN, c.QueueARN = get(EnvScheduleGroup), get(EnvScheduleRoleARN), get(EnvQueueARN)
	settings := []struct {
		name, v string
		pattern *regexp.Regexp
		shape   string
	}{
		{EnvScheduleGroup, c.ScheduleGroup, scheduleGroupPattern, "a schedule group name (1 to 64 of A-Z a-z 0-9 . _ -)"},
		{EnvScheduleRoleARN, c.ScheduleRoleARN, roleARNPattern, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)"},
		{EnvQueueARN, c.QueueARN, queueARNPattern, "an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)"},
	}
	var set, missing []string
	for _, s := range settings {
		if s.v == "" {
			missing = append(missing, s.name)
			continue
		}
		set = append(set, s.name)
		if !s.pattern.MatchString(s.v) {
			fail(settingErr(s.name, "must be %s, got %q", s.shape, s.v))
		}
	}
	if len(set) > 0 && len(missing) > 0 {
		for _, name := range missing {
			fail(settingErr(name, "required with %s: scheduling beyond 15 minutes needs the group, the role and the queue's ARN", strings.Join(set, " and ")))
		}
	}
}

// Schedules reports whether messages may be scheduled beyond the queue's
// 15 minutes: the scheduler settings are set.
func (c Config) Schedules() bool {
	return c.ScheduleGroup != "" && c.ScheduleRoleARN != "" && c.QueueARN != ""
}
