package local

import (
	"net/http"
	"net/url"
	"strings"
)

// CancelRouteKey is the HTTP API's route that cancels a scheduled message
// (template.yaml's CancelRoute).
const CancelRouteKey = http.MethodDelete + " " + RoutePath + "/{messageId}"

// matchRoute finds the HTTP API route of r, as API Gateway does: its key
// and its path parameters, decoded (messageId); ok is false for a request
// no route takes.
func matchRoute(r *http.Request) (key string, params map[string]string, ok bool) {
	switch r.Method {
	case RouteMethod:
		return RouteKey, nil, r.URL.Path == RoutePath
	case http.MethodDelete:
		seg, found := strings.CutPrefix(r.URL.EscapedPath(), RoutePath+"/")
		if !found || seg == "" || strings.Contains(seg, "/") {
			return "", nil, false
		}
		id, err := url.PathUnescape(seg)
		if err != nil || id == "" {
			return "", nil, false
		}
		return CancelRouteKey, map[string]string{"messageId": id}, true
	}
	return "", nil, false
}
