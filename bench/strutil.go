package main

import "strings"

func splitLines(s string) []string { return strings.Split(s, "\r\n") }

func cutColon(line string) (string, string, bool) { return strings.Cut(line, ":") }

func equalFold(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), b) }

func trimSpace(s string) string { return strings.TrimSpace(s) }
