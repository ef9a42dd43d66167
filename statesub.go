package coord

import (
	"unsafe"
	"weak"
)

// stateSub is one State subscription, held weakly: the session keeps no
// subscriber alive, so a channel whose reader dropped it is collected and
// its subscription goes with it, however long the session lives.
//
// A channel is a pointer to a runtime object; a weak pointer to that object
// is what the session keeps. Converting between the two is the only unsafe
// code in coord, confined to the two functions below.
type stateSub struct{ ref weak.Pointer[byte] }

func newStateSub(ch chan SessionState) stateSub {
	return stateSub{ref: weak.Make((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&ch))))}
}

// channel returns the subscriber's channel, or nil once it was collected.
func (s stateSub) channel() chan SessionState {
	p := s.ref.Value()
	if p == nil {
		return nil
	}
	var ch chan SessionState
	*(*unsafe.Pointer)(unsafe.Pointer(&ch)) = unsafe.Pointer(p)
	return ch
}

// live returns the subscriptions whose channels still exist, with them.
func liveSubs(subs []stateSub) ([]stateSub, []chan SessionState) {
	kept := subs[:0]
	var chans []chan SessionState
	for _, s := range subs {
		if ch := s.channel(); ch != nil {
			kept = append(kept, s)
			chans = append(chans, ch)
		}
	}
	clear(subs[len(kept):])
	return kept, chans
}
