// Package raftlog routes Dragonboat's logging into log/slog.
//
// Dragonboat's logger factory is process-wide and can be set only once, so
// this package keeps the one piece of process-wide state in coord: the set
// of slog loggers of the members open in this process. Every Dragonboat
// message goes to each distinct logger in the set; with none, messages are
// dropped. Dragonboat's levels are shifted down one step (its INFO is
// chatty, its WARNING mostly reports conditions coord handles itself).
package raftlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lni/dragonboat/v4/logger"
)

type sinks struct {
	once    sync.Once
	mu      sync.RWMutex
	loggers map[*slog.Logger]int
}

// route is the process-wide sink; see the package comment for why it exists.
var route sinks

// Attach adds l to the loggers that receive Dragonboat's messages and
// installs the routing on first use. The returned function removes l again.
// A nil l only installs the routing, so that Dragonboat stays quiet.
func Attach(l *slog.Logger) (detach func()) {
	route.once.Do(func() {
		defer func() { _ = recover() }() // the application set its own factory first: keep it
		logger.SetLoggerFactory(func(pkg string) logger.ILogger {
			return &pkgLogger{pkg: pkg, level: logger.INFO}
		})
	})
	if l == nil {
		return func() {}
	}
	route.mu.Lock()
	if route.loggers == nil {
		route.loggers = make(map[*slog.Logger]int)
	}
	route.loggers[l]++
	route.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			route.mu.Lock()
			if route.loggers[l]--; route.loggers[l] <= 0 {
				delete(route.loggers, l)
			}
			route.mu.Unlock()
		})
	}
}

type pkgLogger struct {
	pkg   string
	mu    sync.Mutex
	level logger.LogLevel
}

func (p *pkgLogger) SetLevel(l logger.LogLevel) {
	p.mu.Lock()
	p.level = l
	p.mu.Unlock()
}

func (p *pkgLogger) emit(l logger.LogLevel, level slog.Level, format string, args []interface{}) {
	p.mu.Lock()
	enabled := l <= p.level
	p.mu.Unlock()
	if !enabled {
		return
	}
	route.mu.RLock()
	defer route.mu.RUnlock()
	if len(route.loggers) == 0 {
		return
	}
	var msg string
	for lg := range route.loggers {
		if !lg.Enabled(context.Background(), level) {
			continue
		}
		if msg == "" {
			msg = fmt.Sprintf(format, args...)
		}
		lg.Log(context.Background(), level, msg, "component", "dragonboat", "pkg", p.pkg)
	}
}

func (p *pkgLogger) Debugf(format string, args ...interface{}) {
	p.emit(logger.DEBUG, slog.LevelDebug-4, format, args)
}
func (p *pkgLogger) Infof(format string, args ...interface{}) {
	p.emit(logger.INFO, slog.LevelDebug, format, args)
}
func (p *pkgLogger) Warningf(format string, args ...interface{}) {
	p.emit(logger.WARNING, slog.LevelInfo, format, args)
}
func (p *pkgLogger) Errorf(format string, args ...interface{}) {
	p.emit(logger.ERROR, slog.LevelError, format, args)
}
func (p *pkgLogger) Panicf(format string, args ...interface{}) {
	p.emit(logger.CRITICAL, slog.LevelError, format, args)
	panic(fmt.Sprintf(format, args...))
}
