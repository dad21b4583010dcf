package deploytest

import (
	"fmt"
	"strings"
	"testing"
)

// scheduleResource is the send function's grants' resource: the schedules
// of the stack's own group, and nothing else.
const scheduleResource = `{"Fn::Sub":"arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/*"}`

// sendScheduleGrants are the send function's grants for scheduled send:
// creating and deleting schedules in the group, passing the role
// Scheduler runs them as. Nothing else of Scheduler, and no other role.
var sendScheduleGrants = []grant{
	{"scheduler:CreateSchedule", scheduleResource},
	{"scheduler:DeleteSchedule", scheduleResource},
	{"iam:PassRole", "SchedulerRole"},
}

// schedulerRoleGrants are the grants of the role EventBridge Scheduler
// assumes: sending to the queue, nothing else.
var schedulerRoleGrants = []grant{{"sqs:SendMessage", "Queue"}}

// TestScheduledSendResources: the schedule group, the role Scheduler
// assumes (trusting only Scheduler acting for this account's group), the
// PassRole grant limited to Scheduler, and the send function's variables.
func TestScheduledSendResources(t *testing.T) {
	_, tpl := loadTemplate(t)
	for _, f := range jwtSecretForms {
		t.Run(f.name, func(t *testing.T) {
			cfn := f.resolve(t, tpl)
			if got := at(cfn, "Resources", "ScheduleGroup", "Type"); got != "AWS::Scheduler::ScheduleGroup" {
				t.Errorf("ScheduleGroup type = %v, want AWS::Scheduler::ScheduleGroup", got)
			}
			trust := asList(at(props(t, cfn, "SchedulerRole"), "AssumeRolePolicyDocument", "Statement"))
			if len(trust) != 1 {
				t.Fatalf("SchedulerRole trust statements = %v, want one", trust)
			}
			st := trust[0]
			if got := fmt.Sprint(at(st, "Principal", "Service")); got != "scheduler.amazonaws.com" {
				t.Errorf("SchedulerRole trusts %v, want scheduler.amazonaws.com only", at(st, "Principal"))
			}
			if got := fmt.Sprint(at(st, "Action")); got != "sts:AssumeRole" {
				t.Errorf("SchedulerRole trust action = %v, want sts:AssumeRole", got)
			}
			if got := target(at(st, "Condition", "StringEquals", "aws:SourceAccount")); got != "AWS::AccountId" {
				t.Errorf("SchedulerRole trust aws:SourceAccount = %v, want this account", at(st, "Condition", "StringEquals"))
			}
			if got := fmt.Sprint(at(st, "Condition", "ArnEquals", "aws:SourceArn")); !strings.Contains(got, "ScheduleGroup") {
				t.Errorf("SchedulerRole trust aws:SourceArn = %v, want the stack's schedule group", got)
			}
			// PassRole only to Scheduler.
			for _, d := range policyDocuments(t, cfn)["SendFunctionRole"] {
				for _, st := range asList(at(d, "Statement")) {
					if fmt.Sprint(at(st, "Action")) != "iam:PassRole" {
						continue
					}
					if got := fmt.Sprint(at(st, "Condition", "StringEquals", "iam:PassedToService")); got != "scheduler.amazonaws.com" {
						t.Errorf("iam:PassRole condition = %v, want iam:PassedToService scheduler.amazonaws.com", at(st, "Condition"))
					}
				}
			}
			send, _ := at(props(t, cfn, "SendFunction"), "Environment", "Variables").(obj)
			for name, from := range map[string]string{
				"SMS_SCHEDULE_GROUP": "ScheduleGroup", "SMS_SCHEDULE_ROLE_ARN": "SchedulerRole", "SMS_QUEUE_ARN": "Queue", "JWT_ADMIN_SCOPE": "JwtAdminScope",
			} {
				if got := target(send[name]); got != from {
					t.Errorf("SendFunction: %s = %v, want %s", name, send[name], from)
				}
			}
			drain, _ := at(props(t, cfn, "DrainFunction"), "Environment", "Variables").(obj)
			for _, name := range []string{"SMS_SCHEDULE_GROUP", "SMS_SCHEDULE_ROLE_ARN", "JWT_ADMIN_SCOPE"} {
				if v, ok := drain[name]; ok {
					t.Errorf("DrainFunction: %s = %v, want it unset (the drain schedules nothing)", name, v)
				}
			}
		})
	}
}

// TestCancelRouteReachesSendFunction: DELETE /messaging/sms/{messageId}
// goes to the send function, behind the same authorizer as POST, and the
// function may be invoked for it and nothing wider.
func TestCancelRouteReachesSendFunction(t *testing.T) {
	_, cfn := loadTemplate(t)
	route := props(t, cfn, "CancelRoute")
	if got, want := route["RouteKey"], "DELETE /messaging/sms/{messageId}"; got != want {
		t.Errorf("RouteKey = %v, want %v", got, want)
	}
	if got := fmt.Sprint(at(route, "Target", "Fn::Sub")); !strings.Contains(got, "${SendIntegration}") {
		t.Errorf("Target = %v, want integrations/${SendIntegration}", route["Target"])
	}
	send := props(t, cfn, "SendRoute")
	for _, k := range []string{"AuthorizationType", "AuthorizerId", "AuthorizationScopes"} {
		if fmt.Sprint(route[k]) != fmt.Sprint(send[k]) {
			t.Errorf("%s = %v, want the send route's %v", k, route[k], send[k])
		}
	}
	perm := props(t, cfn, "SendFunctionCancelApiPermission")
	if got := fmt.Sprint(at(perm, "SourceArn", "Fn::Sub")); !strings.HasSuffix(got, "${HttpApi}/*/DELETE/messaging/sms/*") {
		t.Errorf("permission SourceArn = %v, want it limited to DELETE /messaging/sms/* of this API", perm["SourceArn"])
	}
	if got := target(perm["FunctionName"]); got != "SendFunction" {
		t.Errorf("permission FunctionName = %v, want SendFunction", perm["FunctionName"])
	}
}
