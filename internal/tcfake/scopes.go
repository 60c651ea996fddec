package tcfake

import (
	"encoding/json"
	"strings"
)

// scopeExpr is a Taskcluster scope expression: a scope, or AllOf / AnyOf of
// expressions. The stand-in keeps its own small matcher rather than sharing
// the bridge's, so it stays an independent judge of what the bridge sends.
type scopeExpr struct {
	scope string
	allOf []scopeExpr
	anyOf []scopeExpr
}

func scope(s string) scopeExpr        { return scopeExpr{scope: s} }
func allOf(es ...scopeExpr) scopeExpr { return scopeExpr{allOf: es} }
func anyOf(es ...scopeExpr) scopeExpr { return scopeExpr{anyOf: es} }
func (e scopeExpr) isScope() bool     { return e.allOf == nil && e.anyOf == nil }
func (e scopeExpr) MarshalJSON() ([]byte, error) {
	switch {
	case e.allOf != nil:
		return json.Marshal(map[string][]scopeExpr{"AllOf": e.allOf})
	case e.anyOf != nil:
		return json.Marshal(map[string][]scopeExpr{"AnyOf": e.anyOf})
	}
	return json.Marshal(e.scope)
}

// String renders the expression as lib-api puts it in error messages: a
// single scope as itself, anything else as indented JSON.
func (e scopeExpr) String() string {
	if e.isScope() {
		return e.scope
	}
	b, _ := json.MarshalIndent(e, "", "  ")
	return string(b)
}

// scopeFor returns a template over URL parameters: "<taskId>" is replaced by
// the taskId parameter, and so on.
func scopeFor(template string) func(map[string]string) scopeExpr {
	return func(params map[string]string) scopeExpr {
		s := template
		for k, v := range params {
			s = strings.ReplaceAll(s, "<"+k+">", v)
		}
		return scope(s)
	}
}

// scopeSatisfies reports whether a held scope grants a required one: equal,
// or the held scope ends in "*" and the required one starts with the rest.
func scopeSatisfies(held, required string) bool {
	if held == required {
		return true
	}
	return strings.HasSuffix(held, "*") && strings.HasPrefix(required, held[:len(held)-1])
}

func hasScope(held []string, required string) bool {
	for _, h := range held {
		if scopeSatisfies(h, required) {
			return true
		}
	}
	return false
}

func (e scopeExpr) satisfiedBy(held []string) bool {
	switch {
	case e.allOf != nil:
		for _, c := range e.allOf {
			if !c.satisfiedBy(held) {
				return false
			}
		}
		return true
	case e.anyOf != nil:
		for _, c := range e.anyOf {
			if c.satisfiedBy(held) {
				return true
			}
		}
		return false
	}
	return hasScope(held, e.scope)
}

// missing returns the part of e that held does not satisfy (nil when none),
// like taskcluster-lib-scopes' removeGivenScopes.
func (e scopeExpr) missing(held []string) *scopeExpr {
	switch {
	case e.allOf != nil:
		var rest []scopeExpr
		for _, c := range e.allOf {
			if m := c.missing(held); m != nil {
				rest = append(rest, *m)
			}
		}
		switch len(rest) {
		case 0:
			return nil
		case 1:
			return &rest[0]
		}
		m := allOf(rest...)
		return &m
	case e.anyOf != nil:
		if e.satisfiedBy(held) {
			return nil
		}
		var rest []scopeExpr
		for _, c := range e.anyOf {
			if m := c.missing(held); m != nil {
				rest = append(rest, *m)
			}
		}
		if len(rest) == 1 {
			return &rest[0]
		}
		m := anyOf(rest...)
		return &m
	}
	if hasScope(held, e.scope) {
		return nil
	}
	return &e
}
