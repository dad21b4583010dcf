package local

import (
	"net/http"
	"net/url"
	"strings"
)

// The HTTP API's routes of one message: MessageRouteKey reads its status
// (template.yaml's MessageRoute), CancelRouteKey cancels a scheduled
// message (CancelRoute). Their path parameter is messageId.
const (
	MessageRouteKey = http.MethodGet + " " + RoutePath + "/{messageId}"
	CancelRouteKey  = http.MethodDelete + " " + RoutePath + "/{messageId}"
)

// matchRoute finds the HTTP API route of r, as API Gateway does: its key
// and its path parameters, decoded (messageId); ok is false for a request
// no route takes.
func matchRoute(r *http.Request) (key string, params map[string]string, ok bool) {
	switch r.Method {
	case RouteMethod:
		return RouteKey, nil, r.URL.Path == RoutePath
	case http.MethodGet, http.MethodDelete:
		seg, found := strings.CutPrefix(r.URL.EscapedPath(), RoutePath+"/")
		if !found || seg == "" || strings.Contains(seg, "/") {
			return "", nil, false
		}
		id, err := url.PathUnescape(seg)
		if err != nil || id == "" {
			return "", nil, false
		}
		key := CancelRouteKey
		if r.Method == http.MethodGet {
			key = MessageRouteKey
		}
		return key, map[string]string{"messageId": id}, true
	}
	return "", nil, false
}
