package sinks

// Column is one named value of a row a driver read from its warehouse (a
// query's row, not a Result): Value is as the warehouse's client returns
// it, nil for SQL NULL. A driver whose client keeps the query's column
// order returns a row's columns in it, repeated names included.
type Column struct {
	Name  string
	Value any
}
