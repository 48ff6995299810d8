// Package reply decodes the JSON replies that exec's Python workers send,
// on the host (exec/python) and in containers (exec/container) alike: a
// value, the task's output, an exception, or a status, and the exception
// as an exec.TaskError.
package reply
