"""cnndsl/syntax"""
