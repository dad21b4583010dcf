package app

import (
	awsscheduler "github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/scheduler"
	"github.com/fluxkit/sms/internal/sms"
)

// WithScheduler is the send function's LoadAWS option: with the scheduler
// settings (config.Config.Schedules), messages scheduled more than 15
// minutes ahead wait in EventBridge Scheduler. Only the send function
// links the Scheduler client.
func WithScheduler(cfg config.Config, env *awsenv.Env, o *Options) {
	if cfg.Schedules() && o.Scheduler == nil {
		o.Scheduler = NewScheduler(cfg, env)
	}
}

// NewScheduler returns the EventBridge Scheduler of cfg's schedule group,
// reached at env's endpoint for it (AWS_ENDPOINT_URL_SCHEDULER,
// AWS_ENDPOINT_URL).
func NewScheduler(cfg config.Config, env *awsenv.Env) *scheduler.Scheduler {
	api := awsscheduler.NewFromConfig(env.Config, func(o *awsscheduler.Options) { env.Apply(awsenv.Scheduler, &o.BaseEndpoint) })
	return scheduler.New(api, scheduler.Config{Group: cfg.ScheduleGroup, RoleARN: cfg.ScheduleRoleARN, QueueARN: cfg.QueueARN})
}

// NewCanceler builds the cancel of scheduled messages over p's status
// records (none with SMS_STATUS_TRACKING=false: every cancel is 404),
// deleting the schedules of p's Scheduler and giving the quota places of
// canceled messages back to p's quota store.
func NewCanceler(p Parts) *sms.Canceler {
	var store sms.CancelStore
	if s, ok := p.Status.(sms.CancelStore); ok {
		store = s
	}
	return sms.NewCanceler(store, p.Log, sms.CancelerConfig{Scheduler: p.Scheduler, Quotas: sms.QuotaGiveBack(quota(p))})
}

// transitions returns the conditional moves of a status store that has
// them (both of ours do); nil without status records.
func transitions(s sms.StatusStore) sms.Transitioner {
	t, _ := s.(sms.Transitioner)
	return t
}
