"""cnndsl/analysis"""
