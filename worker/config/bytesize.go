package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseByteSize reads a plain integer ("1048576") or an integer with a unit
// ("64MiB", "1MB", "512 KiB"; case-insensitive). SI units are powers of 1000
// and IEC units powers of 1024; a bare K, M or G is rejected because it is
// ambiguous between them.
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '-' && r != '+' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if strings.HasPrefix(unit, ".") {
		return 0, errors.New("fractions are not supported; use a smaller unit")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New("not a whole number of bytes")
	}
	mult, ok := map[string]int64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (use B, KB, MB, GB, KiB, MiB or GiB)", s[i:])
	}
	if n > math.MaxInt/mult || n < math.MinInt/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
