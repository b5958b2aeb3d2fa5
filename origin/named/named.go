// Package named holds named transformations (t_<name>): per cloud, a name
// for a transformation string. A Set comes from the --transformations JSON
// file; a Registry stores the Admin API's definitions in the Store and
// consults the file's Set first.
package named

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/refract-cdn/refract/shared/transform"
)

// AllClouds is the key of transformations every cloud shares.
const AllClouds = "*"

// Set maps cloud → name → transformation. It is safe for concurrent use.
type Set struct {
	mu sync.RWMutex
	m  map[string]map[string]string
}

// New returns a set holding m, after checking every transformation parses.
func New(m map[string]map[string]string) (*Set, error) {
	for cloud, names := range m {
		for name, tx := range names {
			var ch transform.Chain
			if err := transform.Parse(tx, &ch); err != nil {
				return nil, fmt.Errorf("named transformation %s/%s: %w", cloud, name, err)
			}
			if name == "" || tx == "" {
				return nil, fmt.Errorf("named transformation %s/%q: empty name or transformation", cloud, name)
			}
		}
	}
	return &Set{m: m}, nil
}

// Load reads a JSON file {"<cloud>" or "*": {"<name>": "<transformation>"}}.
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return New(m)
}

// Lookup returns cloud's transformation called name; a cloud's own
// definition wins over a shared one.
func (s *Set) Lookup(cloud, name string) (string, bool) {
	if s == nil {
		return "", false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if tx, ok := s.m[cloud][name]; ok {
		return tx, true
	}
	tx, ok := s.m[AllClouds][name]
	return tx, ok
}
